"""The .bbx container: byte layout (layout), writer, reader, extraction and verification."""
