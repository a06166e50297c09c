"""bbx: a lossless archiver whose codecs are learned models driving an exact rANS coder."""
__version__ = "0.1.0"
