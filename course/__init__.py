"""Deep Learning on 12 GB: the course as data, and the machinery that runs it."""
