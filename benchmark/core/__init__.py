"""The bottom layer: what every other layer may use and which uses none of them (errors, the registry, run
configuration and profiles, files and the locked cache, logging, checked loads, the allocator)."""
