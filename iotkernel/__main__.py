"""`python -m iotkernel -f CONNECTION_FILE`: start the IoT Kernel (Jupyter launches this)."""

from __future__ import annotations


def main() -> None:
    from ipykernel.kernelapp import IPKernelApp

    from .kernel.kernel import IotKernel

    IPKernelApp.launch_instance(kernel_class=IotKernel)


if __name__ == "__main__":
    main()
