"""Clinical decision support: TRD staging, screening, course protocols and session safety.

raad supports clinical judgement and never replaces it: every result carries its reasons and
sources, and facts it lacks are reported as missing, never assumed normal.
"""
