"""The networks the models train: the shared LSTM generator (the Generator contract) and the discriminators.
They use the kernels and the datasets' masks, never the training code."""
