"""What a spec means, in pure Python (no torch): primitives, the plan (lowering), complexity, the resource
guard, diff, and the shape check that completes a spec's validation."""
