"""The sandbox driver: bubblewrap + a network namespace + cgroups + a loop-mounted disk per pod."""
