"""Model tooling: building model folders that follow the model contract, including the toy model."""
