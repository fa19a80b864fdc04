"""Speed kernels, each beside the plain PyTorch it must equal (``*_reference``) and tested against it both on
the private ops' path and on the fallback (``ops.py``: the one capability check). They import torch and the
core only, so the datasets (the oracle) and the networks share them without depending on each other."""
