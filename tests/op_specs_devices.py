"""OpSpecs of the device primitive (issue 17): `to_device`, the node of `t.to(device)`. The sweep moves the
values to another device and back (array_api_strict from the CPU, the CPU from any other device), so
both nodes' rules, which move the gradient back, are checked."""

from opspec import OpSpec


def _there_and_back(x):
    other = "array_api_strict" if x.device.type == "cpu" else "cpu"
    return x.to(other).to(x.device)


SPECS = [
    OpSpec("to_device", _there_and_back, [((3,),), ((2, 3),), ((),)], torch=lambda t, x: x.to("cpu") * 1),
]
