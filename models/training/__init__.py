"""How models train: the Model contract and its TrainContext (``base``), the GAN template, MLE, the
discriminator rounds, roll-outs, policy gradient and shared pre-training. Built on the networks; the model
files build on it; the LM scores (``metrics/lm.py``) train their LMs through its MLE loop."""
