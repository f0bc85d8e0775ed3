"""The personal library: the user's documents, indexed locally, retrieved per request.

``Library(profile)`` is the public entry point; see ``core.library.library``.
"""

from core.library.indexing import IndexJob, IndexReport
from core.library.library import ForgetReport, Hit, Library, LibraryStatus

__all__ = ["ForgetReport", "Hit", "IndexJob", "IndexReport", "Library", "LibraryStatus"]
