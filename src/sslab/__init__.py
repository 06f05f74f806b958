"""sslab: a laboratory for self-supervised learning by reconstruction versus joint embedding.

Theory you can run (exact closed forms and dynamics, each checked against gradient descent)
and deep SSL you can compare (ViT + MAE / U-MAE / SimCLR / latent prediction), with every
paper claim packaged as a named experiment that states whether it held.
"""

__version__ = "0.1.0"
