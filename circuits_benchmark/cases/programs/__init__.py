"""RASP programs of the benchmark cases, one module per theme; importing registers them."""
