"""tnas.strategy"""
