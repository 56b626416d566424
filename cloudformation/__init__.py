"""The CloudFormation post-processor: `chalice package` output in, a deployable SAM template out."""
