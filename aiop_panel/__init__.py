"""The all-in-one panel at the booth: the instruction, Unladen Vehicle, manifest drop-in."""
