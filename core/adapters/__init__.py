"""Per-user LoRA adapters: training data, training backends, export, store, parity.

The pipeline, in the order data flows through it:

* :mod:`~core.adapters.data` turns the user's documents (or one LaMP user's
  profile) into input -> output examples and tokenizes them with the model's
  own llama.cpp vocabulary, so training sees exactly the tokens inference sees;
* :mod:`~core.adapters.base` dequantizes the GGUF once into a Hugging Face
  folder (cached by SHA-256) that both training backends load;
* :mod:`~core.adapters.backends` trains LoRA weights (torch/peft or mlx-lm);
* :mod:`~core.adapters.lora` / :mod:`~core.adapters.gguf_export` write them as a
  PEFT folder and as a GGUF LoRA that llama.cpp hot-swaps;
* :mod:`~core.adapters.store` publishes them atomically, one folder each;
* :mod:`~core.adapters.job` runs all of it as a cancellable, resumable job, in a
  child process for the CLI and GUI (:mod:`~core.adapters.worker`);
* :mod:`~core.adapters.verify` checks llama.cpp+adapter against torch+adapter.
"""
