"""Gzip for answers, when the client asks for it: the middleware's, and the city layer's own."""

# Smaller answers are sent as they are (the gzip header and trailer would outweigh the saving).
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5
