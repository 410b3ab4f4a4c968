"""bnns.kernels: BNNS filters as pure NumPy, one module per family.

Conventions every family follows (so the server core can drive them all the same way):

* Arrays are float32 (float64 accepted, for gradient checks) in NumPy order with the batch
  first: an ImageCHW input of size (W, H, C) is ``x`` of shape (N, C, H, W).
* Each module has pure forward/backward functions (arrays and hyperparameters in, arrays out) and
  one filter class built from a frozen ``*Params`` dataclass holding ``layout.Descriptor``s.
  The constructor validates everything (raising ``errors.InvalidArgumentError`` with the
  argument and its value in the message) and converts the weights once.
* Backward functions return a fixed-size tuple with ``None`` for what was not asked; gradients
  of weights, biases, beta and gamma are summed over the batch (BNNS semantics).
* A filter keeps only what BNNS keeps: its parameters and, for training, the state a later
  backward needs (normalization). It never caches between calls otherwise.
"""
