"""The Longcheng demo: loads the seed article's data and runs one cycle of the workers."""
