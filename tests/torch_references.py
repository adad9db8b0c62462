"""Independent PyTorch references of the two published networks (Basset, DeepSEA), built from
their layer lists, for tests/test_published.py. Importing this module needs torch."""

import numpy as np
import torch

nn = torch.nn


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


class Recode(nn.Module):
    """ACGT -> AGCT channel order, as DeepSEA's first module does."""

    def forward(self, x):
        return x[:, [0, 2, 1, 3]]


class ConcatReverseComplement(nn.Module):
    """Append the reverse complement along the batch; in AGCT order the complement is the
    reversed channel order (A<->T, G<->C)."""

    def forward(self, x):
        return torch.cat([x, x.flip(1).flip(3)], 0)


class AverageHalves(nn.Module):
    def forward(self, x):
        half = x.size(0) // 2
        return (x[:half] + x[half:]) / 2


def linear(n_in, n_out):
    return nn.Sequential(nn.Identity(), nn.Linear(n_in, n_out))  # keys "<i>.1.weight"


def basset_reference():
    return nn.Sequential(
        nn.Conv2d(4, 300, (19, 1)), nn.BatchNorm2d(300), nn.ReLU(), nn.MaxPool2d((3, 1)),
        nn.Conv2d(300, 200, (11, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        nn.Conv2d(200, 200, (7, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        Flatten(),
        linear(2000, 1000), nn.BatchNorm1d(1000, eps=1e-5), nn.ReLU(), nn.Dropout(0.3),
        linear(1000, 1000), nn.BatchNorm1d(1000, eps=1e-5), nn.ReLU(), nn.Dropout(0.3),
        linear(1000, 164), nn.Sigmoid(),
    )


def deepsea_reference():
    network = nn.Sequential(
        nn.Conv2d(4, 320, (1, 8)), nn.Threshold(0, 1e-6), nn.MaxPool2d((1, 4)), nn.Dropout(0.2),
        nn.Conv2d(320, 480, (1, 8)), nn.Threshold(0, 1e-6), nn.MaxPool2d((1, 4)), nn.Dropout(0.2),
        nn.Conv2d(480, 960, (1, 8)), nn.Threshold(0, 1e-6), nn.Dropout(0.5),
        Flatten(),
        linear(50880, 925), nn.Threshold(0, 1e-6),
        linear(925, 919), nn.Sigmoid(),
    )
    return nn.Sequential(Recode(), ConcatReverseComplement(), network, AverageHalves())


def randomise(module, seed):
    """Random weights with non-trivial batch-norm statistics and scale."""
    torch.manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            m.bias.data.uniform_(-0.2, 0.2)
    return module.eval()


def torch_layout(name, x):
    """seqzoo's (N, L, 4) one-hot -> the PyTorch model's input layout."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))
    return t[:, :, :, None] if name == "Basset" else t[:, :, None, :]
