"""Training stage: fine-tuning, pretraining, distillation, evaluation, the free floor."""
