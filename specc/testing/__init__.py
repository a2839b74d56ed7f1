"""Test support for specc, not part of the pipeline: a real Kubernetes control plane on loopback
(`controlplane`: 1.36 with its controllers, 1.20 for old-cluster checks), a node stand-in that plays
kubelet and scheduler for it (`node_standin`), and cached engine environments (`toolenv`)."""
