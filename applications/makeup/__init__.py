"""Makeup transfer: the ResNet-9 generator with a reference skip, trained with GP + CP."""
