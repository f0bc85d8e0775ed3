"""``inkwell serve``: the OpenAI chat/completions protocol on loopback, personalized.

Editors speak the OpenAI protocol and accept a custom base URL; this package
answers it with the same ``core.writer`` pipeline the Write panel and
``inkwell write`` use, so an editor gets the user's library (RAG) and adapter.

``token``     the bearer token every request must carry (0600 in the data dir)
``protocol``  the request schema, the model ids (``<model>+rag`` ...), response bodies
``app``       the Starlette application: auth, validation, one generation per model,
              a bounded queue, streaming, cancel on disconnect
``server``    loopback-only sockets and uvicorn, in the foreground (the CLI) or on a
              thread (the desktop app, tests)
"""
