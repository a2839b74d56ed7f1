"""Test support for specc: a real Kubernetes control plane (etcd + kube-apiserver) on loopback."""
