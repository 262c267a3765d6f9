"""Plate sources (serial LPR protocols, camera + OCR) that put one PlateRead per truck on the bus."""
