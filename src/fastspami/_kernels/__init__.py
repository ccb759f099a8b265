"""CPU kernels behind the model, with no knowledge of SpaMI: row-blocked sparse products
(``csr``), dense products on oneDNN (``dense``), fused element-wise losses (``fused``),
counter-based dropout masks (``dropout``), a fused Adam (``adam``) and returning freed
memory to the system (``memory``). Every kernel is checked against its plain PyTorch
equivalent in the tests."""
