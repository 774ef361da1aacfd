ln -s missing.yaml spread.yaml
