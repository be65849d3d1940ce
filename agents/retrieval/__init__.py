"""The retrieval stage (``stage``): history, the prompt guard and passages from the index."""
