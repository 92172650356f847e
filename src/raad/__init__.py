"""raad: rapid-acting antidepressant decision support and evidence engine.

raad supports clinical judgement and never replaces it.
"""

__version__ = "0.1.0"
