"""Rebuild the FCC makeup dataset (Sarfraz et al., BMVC 2019) and build aligned makeup pairs."""
