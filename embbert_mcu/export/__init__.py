"""The exporter: checkpoint -> graph IR -> lowered schedule -> arena plan -> packed weights
-> rendered C, and the host run that verifies it. One module per stage (see exporter.py);
``reference.py`` holds the numpy references of the C kernels."""
