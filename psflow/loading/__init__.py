"""Getting a script's rewritten code: the pyc cache, the loader, and the import hook for the script's folder."""

from psflow.loading.loader import LoadedScript, load_script, load_source, read_source

__all__ = ["LoadedScript", "load_script", "load_source", "read_source"]
