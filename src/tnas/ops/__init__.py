"""tnas.ops"""
