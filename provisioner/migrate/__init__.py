"""Migration from the Terraform setup smprov replaces: ``smprov import --from-terraform SOURCE``.

The stack already exists, made by terraform-aws-modules/vpc (with its vpc-endpoints submodule),
terraform-aws-modules/s3-bucket and a SageMaker role. Recreating a VPC with running workloads is
not an option, so the import adopts it in place:

- ``tfstate``: reads SOURCE (a state file of format version 4, ``terraform show -json`` output,
  or an S3 backend's object) into plain resource records; no AWS, no terraform binary;
- ``mapping``: Terraform addresses -> smprov keys, what is part of an adopted resource, what is
  left alone, and whether the state is whole (a half-finished apply is refused);
- ``settings``: the ``smprov.toml`` that reproduces the Terraform inputs, or the differences
  from an existing one;
- ``handoff``: what Terraform must do to stop managing the adopted resources without
  destroying them (``removed`` blocks, or ``terraform state rm``);
- ``adopt``: the operation itself (checks, ownership tags, the state), which changes nothing
  else in AWS;
- ``differences``: the plan after an import names each deliberate difference smprov makes.
"""
