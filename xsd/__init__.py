"""xsd: cross-modal speculative decoding (EventGPT drafts for Video-LLaVA), reproducibly."""
import warnings

# tqdm prints this notice on import in a kernel without a widget library (a study's first cell
# imports it through transformers); it says nothing about the results and would differ by machine
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
