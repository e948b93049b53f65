"""Building blocks shared by the rules: unknown-aware values, the policy builders, the stack index and the
domain models (Karpenter pools, IAM documents, security-group rules, Kubernetes quantities)."""
