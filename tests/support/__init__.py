"""Reusable test support: real registries on loopback, a token server, a fault-injecting proxy, test PKI."""
