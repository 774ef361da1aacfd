mkdir spread.yaml
