"""One torch thread per test process: ``make unit`` runs two processes on a 2-core machine, and
torch's default of one thread per core would oversubscribe it (a test file took 20 times longer)."""

import torch

torch.set_num_threads(1)
