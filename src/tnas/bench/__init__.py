"""tnas.bench"""
