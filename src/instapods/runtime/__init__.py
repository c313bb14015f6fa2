"""The runtime layer: the only code that touches processes, namespaces, cgroups and mounts."""
