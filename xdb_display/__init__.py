"""The exit display board: the lane's instruction, large, in three languages; fails closed."""
