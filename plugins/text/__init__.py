"""Built-in plugins for Hugging Face text models, and the helpers domain plugins reuse."""
