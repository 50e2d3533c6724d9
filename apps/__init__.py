"""The finished app of each chapter: ``hypercorn apps.<name>:app`` or ``uvicorn apps.<name>:app``."""
