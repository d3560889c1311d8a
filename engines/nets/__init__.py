"""Network definitions: pure nn.Module code, no I/O beyond the Hub mixin's save/load."""
