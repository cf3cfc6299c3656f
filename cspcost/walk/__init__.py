"""The walker: run a model once (on meta by default), record every aten op, price it, sum it per layer."""
