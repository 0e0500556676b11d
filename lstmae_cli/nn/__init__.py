"""The network and its training: scaling, windows, the LSTM autoencoder, the training loop,
checkpoints, torchrun data parallelism and the torch thread policy."""
